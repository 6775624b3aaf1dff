"""Quotas: which limits bind a request (scopes), the admission gate, and the status report.

gate = QuotaGate(open_state(url), holder, on_unavailable=FAIL_OPEN)
pipeline = Pipeline(holder, router, gates=[gate])
"""

from gateway.quota.gate import FAIL_CLOSED, FAIL_OPEN, QuotaGate, Ticket
from gateway.quota.report import quota_status

__all__ = ["FAIL_CLOSED", "FAIL_OPEN", "QuotaGate", "Ticket", "quota_status"]
