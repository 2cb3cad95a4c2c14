//! Touch that follows the output's rotation: the matrix that maps a touch panel's own
//! normalized coordinates (0 to 1 across the panel as it is mounted with the display)
//! to normalized coordinates of the screen. X11 calls it the "Coordinate Transformation
//! Matrix" (per input device), libinput its calibration matrix (the first six numbers).
//!
//! Pure math: which devices get it is the backend's business (X11: `x11_output`; cage,
//! through a udev rule: `cage`).

use super::Orientation;

/// A row-major 3×3 matrix; the last row is always `0 0 1`.
pub type Matrix = [f64; 9];

pub const IDENTITY: Matrix = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];

fn mul(a: &Matrix, b: &Matrix) -> Matrix {
    let mut m = [0.0; 9];
    for r in 0..3 {
        for c in 0..3 {
            m[r * 3 + c] = (0..3).map(|k| a[r * 3 + k] * b[k * 3 + c]).sum();
        }
    }
    m
}

/// For an output turned `o` (clockwise, then mirrored left to right as the screen shows
/// it), the panel's point (u, v) lands at the screen's (x, y) = M · (u, v, 1).
pub fn rotation(o: Orientation) -> Option<Matrix> {
    let turn = match o.rotation {
        0 => IDENTITY,
        // The screen's top is the panel's right edge: x = v, y = 1 − u.
        90 => [0.0, 1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
        180 => [-1.0, 0.0, 1.0, 0.0, -1.0, 1.0, 0.0, 0.0, 1.0],
        // The screen's top is the panel's left edge: x = 1 − v, y = u.
        270 => [0.0, -1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        _ => return None,
    };
    if o.flipped {
        Some(mul(&[-1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], &turn))
    } else {
        Some(turn)
    }
}

/// `rotation(o)` confined to the output's rectangle (x, y, width, height) inside a
/// screen of `screen` (width, height): X11 maps a device's matrix over the whole screen,
/// which spans every output.
pub fn to_output(o: Orientation, rect: (i32, i32, u32, u32), screen: (u32, u32)) -> Option<Matrix> {
    let (x, y, w, h) = rect;
    let (sw, sh) = (f64::from(screen.0.max(1)), f64::from(screen.1.max(1)));
    let place = [f64::from(w) / sw, 0.0, f64::from(x) / sw, 0.0, f64::from(h) / sh, f64::from(y) / sh, 0.0, 0.0, 1.0];
    Some(mul(&place, &rotation(o)?))
}

/// libinput's calibration matrix for `o`, as udev's `LIBINPUT_CALIBRATION_MATRIX`
/// property takes it: the first six numbers of [`rotation`], space-separated.
pub fn libinput_calibration(o: Orientation) -> Option<String> {
    let m = rotation(o)?;
    // `+ 0.0` turns the -0 a product may leave into 0.
    Some(m[..6].iter().map(|v| format!("{}", v + 0.0)).collect::<Vec<_>>().join(" "))
}

/// Applies `m` to the panel's point (u, v).
pub fn apply(m: &Matrix, u: f64, v: f64) -> (f64, f64) {
    (m[0] * u + m[1] * v + m[2], m[3] * u + m[4] * v + m[5])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn o(rotation: u16, flipped: bool) -> Orientation {
        Orientation { rotation, flipped }
    }

    fn close(a: (f64, f64), b: (f64, f64)) -> bool {
        (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9
    }

    #[test]
    fn the_panels_corners_land_where_the_turned_screen_shows_them() {
        // The panel's top-left corner (0, 0) and top-right (1, 0).
        let m = rotation(o(90, false)).expect("quarter turn");
        assert!(close(apply(&m, 0.0, 0.0), (0.0, 1.0)), "top-left → bottom-left");
        assert!(close(apply(&m, 1.0, 0.0), (0.0, 0.0)), "top-right → top-left");
        let m = rotation(o(180, false)).expect("half turn");
        assert!(close(apply(&m, 0.0, 0.0), (1.0, 1.0)));
        let m = rotation(o(270, false)).expect("quarter turn");
        assert!(close(apply(&m, 0.0, 0.0), (1.0, 0.0)), "top-left → top-right");
        let m = rotation(o(0, true)).expect("mirror");
        assert!(close(apply(&m, 0.2, 0.3), (0.8, 0.3)));
        assert_eq!(rotation(o(45, false)), None);
    }

    #[test]
    fn libinputs_matrix_is_the_first_two_rows() {
        assert_eq!(libinput_calibration(o(0, false)).as_deref(), Some("1 0 0 0 1 0"));
        assert_eq!(libinput_calibration(o(90, false)).as_deref(), Some("0 1 0 -1 0 1"));
        assert_eq!(libinput_calibration(o(0, true)).as_deref(), Some("-1 0 1 0 1 0"));
        assert_eq!(libinput_calibration(o(45, false)), None);
    }

    #[test]
    fn an_output_right_of_another_gets_its_part_of_the_screen() {
        // Two 1920×1080 outputs side by side; the kiosk's is the right one, unturned.
        let m = to_output(o(0, false), (1920, 0, 1920, 1080), (3840, 1080)).expect("m");
        assert!(close(apply(&m, 0.0, 0.0), (0.5, 0.0)));
        assert!(close(apply(&m, 1.0, 1.0), (1.0, 1.0)));
    }

    proptest! {
        /// Every matrix maps the panel onto the output (corners onto corners) and is
        /// invertible: no touch is lost or squeezed.
        #[test]
        fn the_panel_maps_onto_the_output(r in prop::sample::select(vec![0u16, 90, 180, 270]), flipped: bool,
                                          u in 0.0f64..=1.0, v in 0.0f64..=1.0) {
            let m = rotation(o(r, flipped)).expect("m");
            let (x, y) = apply(&m, u, v);
            prop_assert!((-1e-9..=1.0 + 1e-9).contains(&x) && (-1e-9..=1.0 + 1e-9).contains(&y));
            let det = m[0] * m[4] - m[1] * m[3];
            prop_assert!((det.abs() - 1.0).abs() < 1e-9);
        }
    }
}
