import setuptools

# pbr's [files] packages ignores packages_root (it looks for the package
# directory at the top): name the packages below overlay/ here.
setuptools.setup(setup_requires=['pbr>=0.11'], pbr=True,
                 packages=setuptools.find_packages('overlay'))
