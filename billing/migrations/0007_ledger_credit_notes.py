"""The ledger (journal entries and lines) and credit notes, and what the database enforces
of them, so that no bug, shell or admin can break it:

- the ledger is append-only: no entry or line is ever changed or deleted;
- every entry balances: its lines' debits equal their credits, checked at commit (a
  deferred constraint trigger, so the lines of one entry may be inserted one by one);
- a credit note is frozen once issued: never changed or deleted, and its lines add up to its
  subtotal (checked at commit, so a line added later is refused), each against a line of the
  credited invoice.
"""

import django.db.models.deletion
import django.db.models.expressions
from django.db import migrations, models

FUNCTIONS = """
CREATE FUNCTION billing_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows cannot be changed or deleted: post a correcting entry',
        TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE FUNCTION billing_journal_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    debits numeric;
    credits numeric;
BEGIN
    SELECT COALESCE(sum(debit), 0), COALESCE(sum(credit), 0) INTO debits, credits
      FROM billing_journalline WHERE entry_id = NEW.entry_id;
    IF debits <> credits THEN
        RAISE EXCEPTION 'journal entry % does not balance: debits %, credits %',
            NEW.entry_id, debits, credits USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION billing_credit_note_complete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    note_id bigint;
    expected numeric;
    credited numeric;
    foreign_lines integer;
BEGIN
    -- Each branch is planned only when taken: the other table's NEW has no such field.
    IF TG_TABLE_NAME = 'billing_creditnote' THEN
        note_id := NEW.id;
    ELSE
        note_id := NEW.credit_note_id;
    END IF;
    SELECT subtotal INTO expected FROM billing_creditnote WHERE id = note_id;
    SELECT COALESCE(sum(line.amount), 0),
           count(*) FILTER (WHERE invoice_line.invoice_id <> note.invoice_id)
      INTO credited, foreign_lines
      FROM billing_creditnoteline line
      JOIN billing_creditnote note ON note.id = line.credit_note_id
      JOIN billing_invoiceline invoice_line ON invoice_line.id = line.invoice_line_id
     WHERE line.credit_note_id = note_id;
    IF credited <> expected OR foreign_lines > 0 THEN
        RAISE EXCEPTION 'credit note % lines (%) do not add up to its subtotal (%) on its invoice',
            note_id, credited, expected USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER billing_journalentry_append_only BEFORE UPDATE OR DELETE
    ON billing_journalentry FOR EACH ROW EXECUTE FUNCTION billing_append_only();
CREATE TRIGGER billing_journalline_append_only BEFORE UPDATE OR DELETE
    ON billing_journalline FOR EACH ROW EXECUTE FUNCTION billing_append_only();
CREATE TRIGGER billing_creditnote_frozen BEFORE UPDATE OR DELETE
    ON billing_creditnote FOR EACH ROW EXECUTE FUNCTION billing_append_only();
CREATE TRIGGER billing_creditnoteline_frozen BEFORE UPDATE OR DELETE
    ON billing_creditnoteline FOR EACH ROW EXECUTE FUNCTION billing_append_only();

CREATE CONSTRAINT TRIGGER billing_journal_entry_balanced AFTER INSERT ON billing_journalline
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION billing_journal_entry_balanced();
CREATE CONSTRAINT TRIGGER billing_credit_note_complete AFTER INSERT ON billing_creditnote
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_credit_note_complete();
CREATE CONSTRAINT TRIGGER billing_credit_note_line_complete AFTER INSERT
    ON billing_creditnoteline DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION billing_credit_note_complete();
"""

REVERSE = """
DROP TRIGGER billing_credit_note_line_complete ON billing_creditnoteline;
DROP TRIGGER billing_credit_note_complete ON billing_creditnote;
DROP TRIGGER billing_journal_entry_balanced ON billing_journalline;
DROP TRIGGER billing_creditnoteline_frozen ON billing_creditnoteline;
DROP TRIGGER billing_creditnote_frozen ON billing_creditnote;
DROP TRIGGER billing_journalline_append_only ON billing_journalline;
DROP TRIGGER billing_journalentry_append_only ON billing_journalentry;
DROP FUNCTION billing_credit_note_complete();
DROP FUNCTION billing_journal_entry_balanced();
DROP FUNCTION billing_append_only();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('billing', '0006_billing_profile_tax'),
        ('marketplace', '0013_run_ended_at_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='JournalEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('invoice', 'Invoice'), ('credit_note', 'Credit note'), ('void', 'Void'), ('payment', 'Payment'), ('top_up', 'Top-up'), ('payout', 'Payout')], max_length=20)),
                ('source_key', models.CharField(max_length=100, unique=True)),
                ('posted_at', models.DateTimeField()),
                ('memo', models.CharField(blank=True, max_length=300)),
                ('currency', models.CharField(max_length=3)),
            ],
            options={
                'verbose_name_plural': 'journal entries',
                'ordering': ['id'],
            },
        ),
        migrations.CreateModel(
            name='CreditNote',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.CharField(max_length=30, unique=True)),
                ('currency', models.CharField(max_length=3)),
                ('reason', models.CharField(max_length=500)),
                ('issued_at', models.DateTimeField()),
                ('subtotal', models.DecimalField(decimal_places=2, max_digits=16)),
                ('tax', models.DecimalField(decimal_places=2, max_digits=16)),
                ('total', models.DecimalField(decimal_places=2, max_digits=16)),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='credit_notes', to='billing.invoice')),
                ('org', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organization')),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='CreditNoteLine',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('description', models.CharField(max_length=300)),
                ('amount', models.DecimalField(decimal_places=2, max_digits=16)),
                ('credit_note', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='lines', to='billing.creditnote')),
                ('invoice_line', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='credit_lines', to='billing.invoiceline')),
            ],
            options={
                'ordering': ['id'],
            },
        ),
        migrations.CreateModel(
            name='JournalLine',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('account', models.CharField(choices=[('accounts_receivable', 'Accounts receivable'), ('prepaid_credit', 'Prepaid credit'), ('provider_payable', 'Provider payable'), ('platform_revenue', 'Platform revenue'), ('tax_payable', 'Tax payable'), ('cash', 'Cash (Stripe clearing)')], max_length=30)),
                ('debit', models.DecimalField(decimal_places=2, default=0, max_digits=16)),
                ('credit', models.DecimalField(decimal_places=2, default=0, max_digits=16)),
                ('entry', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='lines', to='billing.journalentry')),
                ('org', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='accounts.organization')),
                ('provider', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='marketplace.provider')),
            ],
            options={
                'ordering': ['id'],
            },
        ),
        migrations.AddConstraint(
            model_name='creditnote',
            constraint=models.CheckConstraint(condition=models.Q(('subtotal__gt', 0)), name='credit_note_positive'),
        ),
        migrations.AddConstraint(
            model_name='creditnote',
            constraint=models.CheckConstraint(condition=models.Q(('total', django.db.models.expressions.CombinedExpression(models.F('subtotal'), '+', models.F('tax')))), name='credit_note_total'),
        ),
        migrations.AddConstraint(
            model_name='creditnoteline',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='credit_note_line_positive'),
        ),
        migrations.AddIndex(
            model_name='journalline',
            index=models.Index(fields=['account', 'org'], name='journal_line_org'),
        ),
        migrations.AddIndex(
            model_name='journalline',
            index=models.Index(fields=['account', 'provider'], name='journal_line_provider'),
        ),
        migrations.AddConstraint(
            model_name='journalline',
            constraint=models.CheckConstraint(condition=models.Q(('credit__gte', 0), ('debit__gte', 0), models.Q(('debit', 0), ('credit', 0), _connector='OR'), models.Q(('credit', 0), ('debit', 0), _negated=True)), name='journal_line_one_side'),
        ),
        migrations.AddConstraint(
            model_name='journalline',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('account__in', ['accounts_receivable', 'prepaid_credit']), ('org__isnull', False), ('provider__isnull', True)), models.Q(('account', 'provider_payable'), ('org__isnull', True), ('provider__isnull', False)), models.Q(('account__in', ['platform_revenue', 'tax_payable', 'cash']), ('org__isnull', True), ('provider__isnull', True)), _connector='OR'), name='journal_line_party'),
        ),
        migrations.RunSQL(FUNCTIONS, REVERSE),
    ]
