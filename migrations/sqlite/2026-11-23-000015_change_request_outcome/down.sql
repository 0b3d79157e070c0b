ALTER TABLE change_requests DROP COLUMN handled_by;
ALTER TABLE change_requests DROP COLUMN outcome;
