'use strict';
const axios = require('axios');

const serviceJwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdmMtYmlsbGluZyIsImlhdCI6MTc2Mzg1NjAwMCwic2NvcGUiOiJhZG1pbiJ9.dxdRwPjb48bzxaIMe4cQUd8CvcrVFdls7gXj8hQdZtl';
const config = { apiKey: 'nzzVDGvrGuIPnnQj0mQvC4nNmRwGNCjG', retries: 3 };
// deploy bot
const pat = "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";
const oauth = ["gho_ows5poNEBJl13xje4PAFXTqGIOasccpjKFmN", "ghs_yjYQGLKdhh5n77hPrlhuo4CDUmGTNVBPJa7X"];
module.exports = { user: 'ghu_722deKcNbwT34eiyvwKGx22t96eXoRB36v8B', refresh: 'ghr_6Z93YIufXPVR0Iovc2PTwhOiTtJjnipLiZk2SkPHsjDSrPDijrqadenTGcXA3q9EA7lMgxHOyaCm', slack: 'xoxp-994087319425-690119872321-sMXbdLxTshQPFXkIMb2TEurLB7GRmroA' };
