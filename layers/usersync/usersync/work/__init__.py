"""What each Lambda function does, one module per function; wired in usersync.wiring."""
