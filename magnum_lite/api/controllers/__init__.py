"""The pecan controllers: `/` and `/v1/` in root.py, the v1 resources in v1/."""
