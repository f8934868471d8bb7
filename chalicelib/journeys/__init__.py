"""Journeys: the graph of a flow, its node configurations, draft editing with undo/redo,
validation, strategy templates, and (next) the runtime that moves cohorts through it."""
