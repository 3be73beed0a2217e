// The proctor's room page (qabilet.api.staff_rooms): the table follows the server's snapshots,
// pushed as server-sent events when the room changes; a change of state is announced politely.
"use strict";
(function () {
  const table = document.getElementById("room");
  if (!table || !window.EventSource) return;
  const words = JSON.parse(table.dataset.words);
  const live = document.getElementById("room-live");
  const source = new EventSource(table.dataset.stream);
  source.onmessage = function (event) {
    const seats = JSON.parse(event.data);
    const said = [];
    for (const s of seats) {
      const row = table.querySelector(`tr[data-seat="${s.seat}"]`);
      if (!row) continue;
      const status = words[s.status] + (s.closed ? ` (${s.closed})` : "");
      const cell = row.querySelector(".status");
      if (cell.textContent !== status) {
        if (cell.textContent) said.push(`${s.seat}: ${status}`);
        cell.textContent = status;
      }
      row.querySelector(".answered").textContent = `${s.answered}/${s.max_items}`;
      row.querySelector(".remaining").textContent = s.remaining_s === null ? "" :
        `${Math.floor(s.remaining_s / 60)}:${String(s.remaining_s % 60).padStart(2, "0")}`;
      row.querySelector(".incidents").textContent = String(s.incidents);
      row.dataset.session = s.session || "";
    }
    table.dataset.updated = String(Date.now());
    if (said.length) live.textContent = said.join("; ");
  };
})();
