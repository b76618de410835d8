tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")
token = self.next_token()
password = os.environ["DB_PASSWORD"]
api_key = get_api_key(region="eu-west-1")
max_tokens = 4096
secret_name = "prod/db/credentials"
password_hash = bcrypt.hashpw(password, salt)
ACCESS_KEY = settings.ACCESS_KEY_FOR_TESTS_ONLY
