"""The ModelRollout API: pydantic models, the CRD emitter and offline lint."""
