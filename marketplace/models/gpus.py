from decimal import Decimal

from django.db import models


class GpuVendor(models.TextChoices):
    NVIDIA = "nvidia", "NVIDIA"
    AMD = "amd", "AMD"
    GOOGLE = "google", "Google"
    INTEL = "intel", "Intel"
    TENSTORRENT = "tenstorrent", "Tenstorrent"


# Relative throughput is measured against the A100's dense BF16 tensor rate (312 TFLOPS,
# NVIDIA A100 datasheet): 1.0 means "as fast as an A100" for cost-per-work ranking.
REFERENCE_BF16_TFLOPS = Decimal("312")


class GpuModel(models.Model):
    """A canonical accelerator. Identity is (vendor, name, memory): A100 40GB != A100 80GB."""

    vendor = models.CharField(max_length=20, choices=GpuVendor.choices)
    name = models.CharField(max_length=40)
    memory_gb = models.PositiveIntegerField(help_text="Memory per GPU, GB as vendors state it.")
    compute_capability = models.CharField(max_length=8, blank=True)
    architecture = models.CharField(max_length=20, blank=True)
    superchip = models.BooleanField(default=False, help_text="Grace superchip: ARM host CPU.")
    bf16_tflops = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    aliases = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["vendor", "name", "memory_gb"]
        constraints = [
            models.UniqueConstraint(
                fields=["vendor", "name", "memory_gb"], name="uniq_gpu_vendor_name_memory"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.memory_gb}GB" if self.memory_gb else self.name

    @property
    def relative_throughput(self) -> Decimal | None:
        if self.bf16_tflops is None:
            return None
        return (self.bf16_tflops / REFERENCE_BF16_TFLOPS).quantize(Decimal("0.001"))
