//! The CPU's temperature, from the kernel's thermal zones (`/sys/class/thermal`).
//!
//! Boards name their zones differently (`x86_pkg_temp`, `cpu-thermal` on a Raspberry Pi,
//! `soc_thermal`, `cpu0-thermal`): the first zone whose type says CPU, package or SoC,
//! else the first zone. Virtual machines often have none.

use std::path::Path;

/// The kernel's thermal zones.
pub const SYSFS: &str = "/sys/class/thermal";

/// Degrees Celsius, or `None` without a readable zone.
pub fn cpu_celsius(root: &Path) -> Option<f64> {
    let mut zones: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .map(|e| {
            let kind = std::fs::read_to_string(e.path().join("type")).unwrap_or_default().trim().to_lowercase();
            (kind, e.path())
        })
        .collect();
    // thermal_zone2 before thermal_zone10.
    zones.sort_by_key(|(_, p)| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        name.trim_start_matches("thermal_zone").parse::<u32>().unwrap_or(u32::MAX)
    });
    let cpu = |kind: &str| ["cpu", "pkg", "soc"].iter().any(|w| kind.contains(w));
    let chosen = zones.iter().find(|(kind, _)| cpu(kind)).or_else(|| zones.first())?;
    let millis: i64 = std::fs::read_to_string(chosen.1.join("temp")).ok()?.trim().parse().ok()?;
    Some(millis as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(root: &Path, n: u32, kind: &str, temp: &str) {
        let dir = root.join(format!("thermal_zone{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("type"), format!("{kind}\n")).unwrap();
        std::fs::write(dir.join("temp"), format!("{temp}\n")).unwrap();
    }

    #[test]
    fn the_cpu_zone_is_preferred_and_read_in_degrees() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cpu_celsius(dir.path()), None, "no zone, no temperature");
        assert_eq!(cpu_celsius(&dir.path().join("missing")), None);
        zone(dir.path(), 10, "acpitz", "30000");
        assert_eq!(cpu_celsius(dir.path()), Some(30.0), "any zone when none says CPU");
        zone(dir.path(), 2, "iwlwifi_1", "41000");
        assert_eq!(cpu_celsius(dir.path()), Some(41.0), "the first by number");
        zone(dir.path(), 11, "x86_pkg_temp", "52500");
        assert_eq!(cpu_celsius(dir.path()), Some(52.5), "the CPU package's zone");
        zone(dir.path(), 12, "cpu-thermal", "garbage");
        assert_eq!(cpu_celsius(dir.path()), Some(52.5));
    }
}
