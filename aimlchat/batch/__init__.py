"""`aimlchat batch`: many prompts through the API, resumable.

records (input lines → records, shards) · outfile (OUT: resume, repair, appends) ·
gate (the shared rate-limit gate) · scheduler (worker threads, retries per item) ·
runner (the main thread: window, order, stop) · progress · request (the one place
that builds a body and reads a reply).
"""
