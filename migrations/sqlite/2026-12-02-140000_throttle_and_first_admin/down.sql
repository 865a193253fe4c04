DELETE FROM settings WHERE name = 'admin_existed';
DROP TABLE throttle;
