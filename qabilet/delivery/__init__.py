"""Delivering a test: session plans, the session clock, what a candidate sees, profiles, reports.

What the command line, the HTTP API (:mod:`qabilet.api`) and any other front end share about a
test being taken, with no web framework in it:

- :mod:`qabilet.delivery.session_state`: a session's plan (the bank version, the blueprint, the
  section's items) and where a session stands, derived from its event log;
- :mod:`qabilet.delivery.session_clock`: time limits, pauses and the server-measured response
  times;
- :mod:`qabilet.delivery.item_texts`: the shown form of an item in a language;
- :mod:`qabilet.delivery.profiles`: personal and professional profiles from scored answers;
- :mod:`qabilet.delivery.report_html`: the printable reports of a profile (candidate, operator);
- :mod:`qabilet.delivery.report_group`: the group report, with :mod:`qabilet.plot`'s charts.

It may import :mod:`qabilet.engine`, :mod:`qabilet.calibration`, :mod:`qabilet.itembank` and
:mod:`qabilet.plot` (the group report only: matplotlib is not loaded for a profile), never
:mod:`qabilet.api`.
"""
