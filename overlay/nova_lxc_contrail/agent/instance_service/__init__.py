__all__ = ['ttypes', 'constants', 'InstanceService']
