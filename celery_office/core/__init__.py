"""The domain: what an agent is and says, with no database, worker, registry or CLI in it.

Statuses and alert kinds and which one wins (:mod:`.statuses`, :mod:`.state`), the contract's
column limits (:mod:`.limits`), every text the office shows (:mod:`.texts`), what flows from
the signal handlers to the database and the one rule of which change is newer
(:mod:`.changes`), the day a moment belongs to (:mod:`.days`), and the errors
(:mod:`.errors`). ``db/``, ``worker/``, ``registry/``, ``cli/`` and ``web/`` import it; it
imports none of them.
"""
