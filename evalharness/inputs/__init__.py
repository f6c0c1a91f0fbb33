"""Reading what people write: eval configs, policies, golden sets, token prices and gate files,
with errors that name the file, line and field."""
