DELETE FROM settings WHERE name = 'scheduler_identity';
