"""HTTP in: schemas, body codecs, thin routes, and the one error-to-status mapping."""
