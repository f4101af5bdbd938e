"""Production: the studio does the work. Who does which image (``assignment``), when it can be done and
what the studio can promise (``planning``, over the pure greedy ``scheduling`` and the retouchers'
``capacity``), the turnaround clock (``sla``), retouched versions (``versions``) and quality control
(``qc``)."""
