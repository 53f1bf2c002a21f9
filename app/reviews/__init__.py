"""Quality reviews: the helpline review form, supervisors scoring finalized contacts."""
