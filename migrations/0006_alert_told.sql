-- Whether people were told an alert fires: its resolution is then told whatever mutes it
-- later (maintenance, a silence, an inhibition). Before, "not muted" stood for "told".
ALTER TABLE alerts ADD COLUMN told INTEGER NOT NULL DEFAULT 0;
UPDATE alerts SET told = (muted_by = '');
