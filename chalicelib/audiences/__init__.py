"""Audiences: rules, RFM and AIPL models, snapshots of packed members."""
