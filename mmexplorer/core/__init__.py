"""The engine: pure Python + torch/faiss/sqlite. Never imports Qt."""
