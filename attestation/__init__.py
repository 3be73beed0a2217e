"""The attestation around the test (``qabilet.attestation``): the organisation it runs in, so far.

The comprehensive attestation of civil servants (docs/design.md §1) runs in three stages — an
evaluation sheet by the supervisor, the automated test, an interview — for every employee at one
of three position levels. This package keeps what the test centre and the HR department need
around qabilet's sessions; it uses the bank's database and migrations (:mod:`qabilet.itembank`)
and may use :mod:`qabilet.delivery`, never the engine's internals or the web layer.

* :mod:`~qabilet.attestation.organisation`: agencies, units, test centres, interview rooms,
  position categories and their levels, employees and their supervisors — the organisation
  document and its checks;
* :mod:`~qabilet.attestation.repository`: the organisation on the database, imported whole.
"""

from qabilet.attestation.organisation import OrganisationDocument
from qabilet.attestation.repository import OrganisationRepository, read_organisation

__all__ = ["OrganisationDocument", "OrganisationRepository", "read_organisation"]
