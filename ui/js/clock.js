"use strict";
// Shared by the board and the status bar, so that both surfaces read the time alike.
const BoardTime = (() => {
  // A lobby board reads best in 24-hour time, whatever the device's locale says.
  const hm = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const hms = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });
  const date = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });

  // Calls fn(now) at once and then on every boundary of `unit` ms, aligned to the wall
  // clock: a setInterval drifts, and a clock a second late is noticed on a big screen.
  function every(unit, fn) {
    const tick = () => {
      fn(new Date());
      setTimeout(tick, unit - (Date.now() % unit) + 5);
    };
    tick();
  }

  // "14:30" -> minutes since midnight; schedules are written in local wall time.
  function minutes(hhmm) {
    const [h, m] = hhmm.split(":").map(Number);
    return h * 60 + m;
  }

  return {
    hm: (d) => hm.format(d),
    hms: (d) => hms.format(d),
    date: (d) => date.format(d),
    minutesOfDay: (d) => d.getHours() * 60 + d.getMinutes(),
    minutes,
    every,
  };
})();
