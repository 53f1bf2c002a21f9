"""Permission rules: which user may do which action on which record.

One engine answers "may this user do this action on this record" and compiles
the same rules to a SQL filter for lists and searches, so the two cannot
disagree (tests run every rule set both ways on the same records).
"""
