"""Image work as pure functions (no ORM): sniffing, sandboxed decoding, previews, renditions.

The web process never decodes an uploaded file. A worker runs ``sandbox.inspect_file`` which decodes
in a child process with memory, CPU and wall-clock limits, so a hostile file can at worst kill the
child, never the worker.
"""
