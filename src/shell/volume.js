// The kiosk's volume (src/volume.rs), in every frame, before page scripts: each media
// element plays at the kiosk's level once one is set, and is muted while the kiosk is,
// going back to its own `muted` after. The core sends changes as a `vitrine-volume`
// event to the top frame; other frames take the new state at their next load.
(() => {
  let state = __VITRINE_VOLUME__;
  const own = new WeakMap(); // element -> its own `muted`, while the kiosk mutes it
  const Media = HTMLMediaElement.prototype;
  const volume = Object.getOwnPropertyDescriptor(Media, "volume");
  const muted = Object.getOwnPropertyDescriptor(Media, "muted");
  const apply = (el, pageSet) => {
    if (!(el instanceof HTMLMediaElement)) return;
    if (state.level !== null && volume.get.call(el) !== state.level) volume.set.call(el, state.level);
    const m = muted.get.call(el);
    if (state.muted) {
      if (!own.has(el) || (pageSet && !m)) own.set(el, m);
      if (!m) muted.set.call(el, true);
    } else if (own.has(el)) {
      const back = own.get(el);
      own.delete(el);
      muted.set.call(el, back);
    }
  };
  const everywhere = () => document.querySelectorAll("audio, video").forEach((el) => apply(el, false));
  document.addEventListener("loadstart", (e) => apply(e.target, false), true);
  document.addEventListener("play", (e) => apply(e.target, false), true);
  document.addEventListener("volumechange", (e) => apply(e.target, true), true);
  const play = Media.play;
  Media.play = function () {
    apply(this, false);
    return play.apply(this, arguments);
  };
  window.addEventListener("vitrine-volume", (e) => {
    if (e.detail && typeof e.detail.muted === "boolean") {
      state = { level: e.detail.level, muted: e.detail.muted };
      everywhere();
    }
  });
  document.addEventListener("DOMContentLoaded", everywhere);
})();
