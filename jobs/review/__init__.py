"""Review: the client sees the work. Deliveries and their packages (``deliveries``), approvals,
revision rounds and auto-approval (``proofing``), the order's thread (``messages``), the golden
reference (``references``) and files held until the invoice is paid (``payment_holds``)."""
