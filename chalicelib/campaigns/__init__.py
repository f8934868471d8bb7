"""Campaigns and sub-campaigns: the plan that tasks, journeys and audiences attach to."""
