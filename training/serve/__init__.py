"""`train serve`: a web page and a JSON API over the models (Starlette on uvicorn)."""
