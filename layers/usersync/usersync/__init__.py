"""usersync: keep Batch.com and CleverTap in sync with your own user data."""
