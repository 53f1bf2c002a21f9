"""Cases: a child's story across contacts, with notes, referrals, perpetrators, incidents and households."""
