"""Billing profiles, and the tax and both parties kept on each finalised invoice.

The trigger function of 0004 is replaced so that the new invoice fields (models.
FROZEN_INVOICE_FIELDS) are frozen with the others once an invoice is finalised. Adding the
columns is DDL, which fires no row trigger, so invoices finalised before keep empty ones.
"""

import django.db.models.deletion
from django.db import migrations, models

FROZEN_0004 = (
    "org_id", "period_start", "period_end", "currency", "number", "issued_at", "due_at",
    "subtotal", "tax", "total",
)  # fmt: skip
FROZEN_0006 = (
    *FROZEN_0004, "tax_rate", "tax_note", "reverse_charge", "buyer_name", "buyer_address",
    "buyer_country", "buyer_vat_id", "buyer_email", "seller_name", "seller_address",
    "seller_country", "seller_vat_id",
)  # fmt: skip


def frozen_function(columns: tuple[str, ...]) -> str:
    new = ", ".join(f"NEW.{column}" for column in columns)
    old = ", ".join(f"OLD.{column}" for column in columns)
    return f"""
CREATE OR REPLACE FUNCTION billing_invoice_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'draft' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'invoice % is finalised and cannot be deleted', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.status = 'draft' OR ({new}) IS DISTINCT FROM ({old}) THEN
        RAISE EXCEPTION 'invoice % is finalised and cannot be changed', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('billing', '0005_invoice_line_components'),
    ]

    operations = [
        migrations.AddField(
            model_name='invoice',
            name='buyer_address',
            field=models.TextField(blank=True, db_default='', help_text='One line per line.'),
        ),
        migrations.AddField(
            model_name='invoice',
            name='buyer_country',
            field=models.CharField(blank=True, db_default='', max_length=2),
        ),
        migrations.AddField(
            model_name='invoice',
            name='buyer_email',
            field=models.EmailField(blank=True, db_default='', max_length=254),
        ),
        migrations.AddField(
            model_name='invoice',
            name='buyer_name',
            field=models.CharField(blank=True, db_default='', max_length=200),
        ),
        migrations.AddField(
            model_name='invoice',
            name='buyer_vat_id',
            field=models.CharField(blank=True, db_default='', max_length=20),
        ),
        migrations.AddField(
            model_name='invoice',
            name='reverse_charge',
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name='invoice',
            name='seller_address',
            field=models.TextField(blank=True, db_default='', help_text='One line per line.'),
        ),
        migrations.AddField(
            model_name='invoice',
            name='seller_country',
            field=models.CharField(blank=True, db_default='', max_length=2),
        ),
        migrations.AddField(
            model_name='invoice',
            name='seller_name',
            field=models.CharField(blank=True, db_default='', max_length=200),
        ),
        migrations.AddField(
            model_name='invoice',
            name='seller_vat_id',
            field=models.CharField(blank=True, db_default='', max_length=40),
        ),
        migrations.AddField(
            model_name='invoice',
            name='tax_note',
            field=models.TextField(blank=True, db_default=''),
        ),
        migrations.AddField(
            model_name='invoice',
            name='tax_rate',
            field=models.DecimalField(db_default=0, decimal_places=2, default=0, help_text='Percent, e.g. 23.00.', max_digits=5),
        ),
        migrations.CreateModel(
            name='BillingProfile',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('legal_name', models.CharField(max_length=200)),
                ('address_line1', models.CharField(max_length=200)),
                ('address_line2', models.CharField(blank=True, max_length=200)),
                ('postal_code', models.CharField(max_length=20)),
                ('city', models.CharField(max_length=100)),
                ('country', models.CharField(help_text='ISO 3166-1 alpha-2, upper case.', max_length=2)),
                ('vat_id', models.CharField(blank=True, max_length=20)),
                ('email', models.EmailField(max_length=254)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('org', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='billing_profile', to='accounts.organization')),
            ],
            options={
                'constraints': [models.CheckConstraint(condition=models.Q(('country__regex', '^[A-Z]{2}$')), name='billing_profile_country_code')],
            },
        ),
        migrations.RunSQL(frozen_function(FROZEN_0006), frozen_function(FROZEN_0004)),
    ]
