"""The dashboard contract's column limits: what a row of ``office_agent_status`` can hold.

Shared by the table's model, the validation of agents.yaml and of the reporter, and the cutting
of texts to their columns.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["AGENT_ID_MAX", "NAME_MAX", "DEPARTMENT_MAX", "BRAND_MAX", "TASK_MAX", "FTE_MAX",
           "SALARY_MAX"]

AGENT_ID_MAX = 100
NAME_MAX = 100
DEPARTMENT_MAX = 50
BRAND_MAX = 20
TASK_MAX = 255
FTE_MAX = Decimal("9.99")  # Numeric(3, 2)
SALARY_MAX = 2**31 - 1  # Integer
