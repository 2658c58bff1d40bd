import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    with open(osp.join(HERE, 'requirements', name)) as f:
        return [line.split('#')[0].strip() for line in f
                if line.split('#')[0].strip()]


version = {}
with open(osp.join(HERE, 'virtualpose_mm', 'version.py')) as f:
    exec(f.read(), version)

setup(
    name='virtualpose_mm',
    version=version['__version__'],
    description='VoxelPose and VirtualPose (multi-person 3D pose) for MMPose 1.x',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9,<3.13',
    packages=find_packages(include=['virtualpose_mm', 'virtualpose_mm.*']),
    include_package_data=True,
    package_data={'virtualpose_mm': ['data/**/*', 'ops/csrc/*.cpp']},
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
)
