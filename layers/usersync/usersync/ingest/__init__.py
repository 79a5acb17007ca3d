"""S3 files: notifications, chunk planning, chunk jobs: the file and chunk functions' work."""
