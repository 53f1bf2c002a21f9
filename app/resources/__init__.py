"""Referral resources: the helpline's directory of services a counsellor can refer a child to."""
