"""facecat training stage (see README)."""
