"""The attestation around the test (``qabilet.attestation``).

The comprehensive attestation of civil servants (docs/design.md §1) runs in three stages — an
evaluation sheet by the supervisor, the automated test, an interview — for every employee at one
of three position levels. This package keeps what the test centre and the HR department need
around qabilet's sessions; it uses the bank's database and migrations (:mod:`qabilet.itembank`)
and may use :mod:`qabilet.delivery`, never the calibration or the web layer.

* :mod:`~qabilet.attestation.organisation`, :mod:`~qabilet.attestation.repository`: agencies,
  units, test centres, interview rooms, position categories and their levels, employees and
  their supervisors — the organisation document, its checks, its tables;
* :mod:`~qabilet.attestation.access`, :mod:`~qabilet.attestation.accounts`: staff roles scoped
  to units, staff accounts and their sessions;
* :mod:`~qabilet.attestation.campaigns`, :mod:`~qabilet.attestation.exemptions`,
  :mod:`~qabilet.attestation.files`: campaigns, their members and exemptions with documents;
* :mod:`~qabilet.attestation.sheets`: evaluation sheets, their revisions and signatures;
* :mod:`~qabilet.attestation.scheduling`, :mod:`~qabilet.attestation.timetable`: the
  test-centre scheduler, proposals and bookings;
* :mod:`~qabilet.attestation.interviews`: interviews and the commission's decisions;
* :mod:`~qabilet.attestation.personal_data`: an employee's data exported and erased.
"""

from qabilet.attestation.organisation import OrganisationDocument
from qabilet.attestation.repository import OrganisationRepository, read_organisation

__all__ = ["OrganisationDocument", "OrganisationRepository", "read_organisation"]
