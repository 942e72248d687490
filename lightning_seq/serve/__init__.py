"""The ``serve`` extra: a trained checkpoint behind HTTP (FastAPI + uvicorn), with dynamic batching and a page."""
