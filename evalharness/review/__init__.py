"""Review every decision: the viewer's rows, filters, disagreement queue and server."""
