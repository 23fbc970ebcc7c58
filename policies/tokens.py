"""Pulumi type tokens the guardrails look at."""

KMS_KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
BUCKET_PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SERVICE_ACCOUNT_PATCH = "kubernetes:core/v1:ServiceAccountPatch"
SECRET = "kubernetes:core/v1:Secret"  # noqa: S105 (a type token)
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
ELASTICACHE_USER = "aws:elasticache/user:User"
DYNAMIC = "pulumi-python:dynamic:Resource"

AWS_TAGGABLE = (KMS_KEY, BUCKET, BUCKET_OBJECT, IAM_ROLE)
KUBERNETES = (
    NAMESPACE,
    SERVICE_ACCOUNT,
    SERVICE_ACCOUNT_PATCH,
    NETWORK_POLICY,
    RESOURCE_QUOTA,
    LIMIT_RANGE,
    SECRET,
    DEPLOYMENT,
    SERVICE,
)
REQUIRED_TAGS = ("tenant-id", "plan", "managed-by")
