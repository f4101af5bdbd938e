"""Intake: the client's photographs arrive. Upload targets and the checked, resumable upload contract
(``ingest``, shared with retouched versions), originals on an order (``uploads``), and the sandboxed
decode with its pre-flight warnings. The image functions themselves are pure and live in
``jobs.imaging`` (every stage uses them)."""
