"""The service catalog of DESIGN.md §3 with estimated minutes per image (simple, standard, complex)."""

from django.db import migrations

CATALOG = [
    ("colour-correction", "Colour correction", "Neutral whites, accurate metal and stone colour.", 4, 8, 15),
    ("detail-enhancement", "Detail enhancement", "Crisp prongs, settings, engravings and textures.", 6, 12, 25),
    ("clipping-path", "Clipping path", "A hand-drawn vector path around the piece.", 5, 10, 20),
    ("background-removal", "Background removal", "Clean white, colour or transparent background.", 3, 6, 12),
    ("reflection-shine", "Reflection and shine enhancement", "Controlled highlights and mirror reflections.", 8, 15, 30),
    ("consistency-matching", "Consistency matching", "Same tone, angle, scale and light across a series.", 3, 6, 10),
    ("dust-scratch-removal", "Dust and scratch removal", "Removes dust, fingerprints and surface scratches.", 5, 10, 20),
    ("shadow-creation", "Shadow creation", "Natural, drop or reflection shadow.", 3, 6, 12),
    ("metal-recolouring", "Metal recolouring", "Yellow, rose and white gold variants of one photograph.", 6, 12, 20),
    ("stone-enhancement", "Stone enhancement", "Fire, brilliance and clarity of gemstones.", 8, 15, 30),
]


def add_catalog(apps, schema_editor):
    Service = apps.get_model("jobs", "Service")
    for position, (code, name, description, simple, standard, complex_) in enumerate(CATALOG, start=1):
        Service.objects.update_or_create(code=code, defaults={
            "name": name, "description": description, "position": position,
            "minutes_simple": simple, "minutes_standard": standard, "minutes_complex": complex_,
        })


def remove_catalog(apps, schema_editor):
    apps.get_model("jobs", "Service").objects.filter(code__in=[row[0] for row in CATALOG]).delete()


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial")]
    operations = [migrations.RunPython(add_catalog, remove_catalog)]
