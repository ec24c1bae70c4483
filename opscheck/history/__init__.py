"""The run history (issue 12): every run and its checks in one SQLAlchemy Core schema, on SQLite
for one machine or PostgreSQL for a fleet, and what it says: uptime, objectives, burn rates, incidents."""
