"""Finalised invoices and their lines cannot change: the database refuses it.

Once an invoice leaves `draft`, the fields of models.FROZEN_INVOICE_FIELDS never change
again (only its status and what it still owes may: paid, void, uncollectible), it is never
deleted, and its lines are never inserted, updated or deleted. Corrections are credit notes
or a void. A trigger, not only the code: a bug, a shell or the admin cannot rewrite a filed
invoice.
"""

from django.db import migrations

FUNCTIONS = """
CREATE FUNCTION billing_invoice_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'draft' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'invoice % is finalised and cannot be deleted', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.status = 'draft'
       OR (NEW.org_id, NEW.period_start, NEW.period_end, NEW.currency, NEW.number,
           NEW.issued_at, NEW.due_at, NEW.subtotal, NEW.tax, NEW.total)
          IS DISTINCT FROM
          (OLD.org_id, OLD.period_start, OLD.period_end, OLD.currency, OLD.number,
           OLD.issued_at, OLD.due_at, OLD.subtotal, OLD.tax, OLD.total) THEN
        RAISE EXCEPTION 'invoice % is finalised and cannot be changed', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION billing_invoice_line_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    invoice_status text;
BEGIN
    SELECT status INTO invoice_status FROM billing_invoice
     WHERE id = CASE WHEN TG_OP = 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END;
    IF invoice_status IS DISTINCT FROM 'draft' THEN
        RAISE EXCEPTION 'the lines of a finalised invoice cannot change'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.invoice_id <> OLD.invoice_id THEN
        RAISE EXCEPTION 'a line cannot move to another invoice'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE TRIGGER billing_invoice_frozen BEFORE UPDATE OR DELETE ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_frozen();
CREATE TRIGGER billing_invoice_line_frozen BEFORE INSERT OR UPDATE OR DELETE
    ON billing_invoiceline FOR EACH ROW EXECUTE FUNCTION billing_invoice_line_frozen();
"""

REVERSE = """
DROP TRIGGER billing_invoice_line_frozen ON billing_invoiceline;
DROP TRIGGER billing_invoice_frozen ON billing_invoice;
DROP FUNCTION billing_invoice_line_frozen();
DROP FUNCTION billing_invoice_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_invoice_finalisation")]

    operations = [migrations.RunSQL(FUNCTIONS, REVERSE)]
