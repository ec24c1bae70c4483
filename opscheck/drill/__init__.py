"""The restore drill (issue 13): a manifest at backup time, then restore, RTO, file and database
verification, RPO, canaries and smoke, and a drill record."""
