"""facecat scraper stage (see README)."""
