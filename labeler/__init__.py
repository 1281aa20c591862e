"""facecat labeler stage (see README)."""
